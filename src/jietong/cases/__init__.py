"""Cases (tickets): what must be done? The case workflow, ownership, numbering and links
to the interactions that raised it."""
