"""Click commands, one module per user: repository admins, clients, ..."""
