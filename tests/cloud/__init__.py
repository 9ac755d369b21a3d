"""Tests of the HQ service, one folder per capability."""
