"""`python -m jietong.app.cli` runs the `jietong` command."""

from jietong.app.cli import main

main()
