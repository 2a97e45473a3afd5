# The C++17 wrapper include/wal.hpp. `make test-hpp`:
# - checks that below C++17 it stops at one #error, with its message, and
#   nothing else;
# - builds its two tests with g++ (and checks they compile with clang++ when
#   there is one): test_wal_hpp.cpp (the throwing API) and
#   test_wal_hpp_noexcept.cpp (the std::error_code overloads) with
#   -fno-exceptions;
# - runs both, under valgrind when there is one: any memory error or
#   definite leak fails.
CXXFLAGS_HPP := -std=c++17 -Wall -Wextra -Werror -pedantic -O1 -g -Iinclude
CLANGXX      := $(shell command -v clang++ 2>/dev/null)
VALGRIND     := $(shell command -v valgrind 2>/dev/null)
HPP_RUNNER   := $(if $(VALGRIND),$(VALGRIND) -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
HPP_TESTS    := $(BUILD)/cxx/test_wal_hpp $(BUILD)/cxx/test_wal_hpp_noexcept
HPP_ERROR    := wal.hpp needs C++17 or later (compile with -std=c++17); from C++11 or C++14, use wal.h

.PHONY: test-hpp test-hpp-cxx14

$(BUILD)/cxx/test_wal_hpp: c_tests/cxx/test_wal_hpp.cpp c_tests/cxx/hpp_testutil.h include/wal.hpp include/wal.h $(REL)/libwal.so
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_HPP) -o $@ $< -L$(REL) -lwal -Wl,-rpath,$(abspath $(REL))

$(BUILD)/cxx/test_wal_hpp_noexcept: c_tests/cxx/test_wal_hpp_noexcept.cpp c_tests/cxx/hpp_testutil.h include/wal.hpp include/wal.h $(REL)/libwal.so
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_HPP) -fno-exceptions -o $@ $< -L$(REL) -lwal -Wl,-rpath,$(abspath $(REL))

# Including wal.hpp as C++14 (and C++11) fails with exactly one diagnostic,
# the #error's, whichever compiler.
test-hpp-cxx14: include/wal.hpp include/wal.h
	@mkdir -p $(BUILD)
	@for cxx in $(CXX) $(CLANGXX); do for std in c++14 c++11; do \
	  if echo '#include "wal.hpp"' | $$cxx -std=$$std -Iinclude -fsyntax-only -x c++ - 2>$(BUILD)/hpp-$$std.err; then \
	    echo "test-hpp: $$cxx -std=$$std compiled wal.hpp"; exit 1; fi; \
	  errors=$$(grep -c 'error:' $(BUILD)/hpp-$$std.err); \
	  if [ "$$errors" != 1 ] || ! grep -q '#error "$(HPP_ERROR)"' $(BUILD)/hpp-$$std.err; then \
	    echo "test-hpp: $$cxx -std=$$std: expected one #error \"$(HPP_ERROR)\", got $$errors error line(s):"; \
	    cat $(BUILD)/hpp-$$std.err; exit 1; fi; \
	  echo "test-hpp: $$cxx -std=$$std stops at the one #error"; \
	done; done

test-hpp: lib test-hpp-cxx14 $(HPP_TESTS)
	$(if $(CLANGXX),$(CLANGXX) $(CXXFLAGS_HPP) -fsyntax-only c_tests/cxx/test_wal_hpp.cpp,@$(CHECK_SKIP) test-hpp:clang++ clang++ "apt-get install clang")
	$(if $(VALGRIND),,@$(CHECK_SKIP) test-hpp:valgrind valgrind "apt-get install valgrind")
	$(if $(CLANGXX),$(CLANGXX) $(CXXFLAGS_HPP) -fno-exceptions -fsyntax-only c_tests/cxx/test_wal_hpp_noexcept.cpp)
	@for t in $(HPP_TESTS); do \
	  start=$$(date +%s.%N); \
	  timeout 300 $(HPP_RUNNER) $$t || exit 1; \
	  echo "test-hpp: $$(basename $$t) passed$(if $(VALGRIND), under valgrind) in $$(awk "BEGIN { printf \"%.1f\", $$(date +%s.%N) - $$start }") s"; \
	done

CHECK_EXTRA += test-hpp
