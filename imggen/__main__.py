"""python -m imggen"""

from imggen.cli import main

if __name__ == "__main__":
    main()
