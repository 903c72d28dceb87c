# The nightly pipeline of the platform's Python runtime: check out the standard library's sources,
# byte-compile them at every optimisation level (as the packaged runtime ships them), and run
# CPython's regression tests of the modules the platform's services lean on, CPU-heavy ones
# included (-u cpu). make -j runs the stages' independent jobs side by side.
WORKSPACE ?= /builds/current
SRC := $(WORKSPACE)/src
TESTS := test_tokenize test_unparse test_email test_lzma test_tarfile test_unicodedata test_pickle \
         test_compile test_statistics test_datetime test_bz2 test_buffer test_ast test_itertools test_set \
         test_decimal test_json test_long test_math test_re test_zlib test_hashlib test_heapq test_random

.PHONY: all bytecode test $(TESTS)

all: bytecode test

$(SRC)/.checked-out:
	mkdir -p $(SRC)
	cp -a /usr/lib/python3.11/. $(SRC)/
	find $(SRC) -name __pycache__ -prune -exec rm -rf {} +
	touch $@

bytecode: $(SRC)/.checked-out
	python3 -m compileall -q -j 1 -o 0 -o 1 -o 2 -x '/test/|/lib2to3/tests/' $(SRC)

test: $(TESTS)

$(TESTS):
	python3 -m test -q -u cpu $@
