"""Salesforce Service Cloud destination: simple-salesforce client glue, loaders and a local emulator."""

__version__ = "0.1.0"
