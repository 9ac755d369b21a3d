"""What both services (edge and cloud) use and neither owns: the clock, ids, config-file
validation, sd_notify, the HTTP kit and the shared vocabulary. Imports no other package of
the project (checked by import-linter in `make test`)."""

__version__ = "0.1.0"
