"""python -m imggen"""

from imggen.cli import run

if __name__ == "__main__":
    run()
