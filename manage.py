#!/usr/bin/env python
from kehu.cli import main

if __name__ == "__main__":
    main()
