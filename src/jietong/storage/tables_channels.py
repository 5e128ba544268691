"""Tables of the channel adapters, outbound deliveries and identity merges (issue 3)."""
