"""`python -m training.cli` runs the `stance` command."""
from training.cli import main

main()
