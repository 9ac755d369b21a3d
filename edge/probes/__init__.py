"""BLE foot-traffic probes: settings, one coordinator per zone, visits and conversion."""
