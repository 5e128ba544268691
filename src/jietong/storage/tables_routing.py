"""Tables of the routing engine and agent presence (issue 4)."""
