"""helpdesk-migrate's public namespace: the plugin SDK (``helpdesk_migrate.sdk``) and the built-in platforms
(``helpdesk_migrate.plugins.<platform>``)."""
