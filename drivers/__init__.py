"""Hardware drivers (printer, BLE, locker). Never imports edge/ or cloud/."""
