"""Real traffic as cases: the capture format (``capture``), HAR import (``har``), and the
tools built on them."""
