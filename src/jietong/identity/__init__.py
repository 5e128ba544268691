"""Who is this? Customers, their contact points, and merges."""
