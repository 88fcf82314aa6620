"""`python -m mockpay ...`: the `mockpay` command, for a venv whose scripts are not on PATH."""
from mockpay.cli import main

main(prog_name="mockpay")
