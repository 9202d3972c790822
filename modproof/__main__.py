from modproof.entry import run

run()
