"""The real-time gateway for agent, supervisor and admin screens."""
