"""`python -m jietong.app.cli` runs the `jietong` command."""

from jietong.app.cli import main

# Guarded: a spawned child process (the intake writer, `JIETONG_INTAKE_WRITER=process`)
# imports the parent's main module under another name and must not run the command.
if __name__ == "__main__":
    main()
