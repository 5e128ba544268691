"""The organisation's structure: tenants, users, teams and departments, skills, queues."""
