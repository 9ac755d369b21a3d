"""HQ's scheduled jobs: one apscheduler in the HQ process runs every capability's jobs (RFM,
automation, recommendations, channel months, forecasts), led by one process per database."""
