"""The broker's access control: provisioning Mosquitto's dynamic-security plugin and the files under ``<data_dir>/mosquitto/``."""
