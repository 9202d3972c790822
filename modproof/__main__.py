from modproof.cli import run

run()
