# The C++17 wrapper include/wal.hpp: `make test-hpp` builds its test with
# g++ (and checks it compiles with clang++ when there is one), then runs it
# under valgrind when there is one: any memory error or definite leak fails.
CXXFLAGS_HPP := -std=c++17 -Wall -Wextra -Werror -pedantic -O1 -g -Iinclude
CLANGXX      := $(shell command -v clang++ 2>/dev/null)
VALGRIND     := $(shell command -v valgrind 2>/dev/null)
HPP_RUNNER   := $(if $(VALGRIND),$(VALGRIND) -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)

.PHONY: test-hpp

$(BUILD)/cxx/test_wal_hpp: c_tests/cxx/test_wal_hpp.cpp include/wal.hpp include/wal.h $(REL)/libwal.so
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_HPP) -o $@ $< -L$(REL) -lwal -Wl,-rpath,$(abspath $(REL))

test-hpp: lib $(BUILD)/cxx/test_wal_hpp
	$(if $(CLANGXX),$(CLANGXX) $(CXXFLAGS_HPP) -fsyntax-only c_tests/cxx/test_wal_hpp.cpp,@$(CHECK_SKIP) test-hpp:clang++ clang++ "apt-get install clang")
	$(if $(VALGRIND),,@$(CHECK_SKIP) test-hpp:valgrind valgrind "apt-get install valgrind")
	timeout 300 $(HPP_RUNNER) $(BUILD)/cxx/test_wal_hpp

CHECK_EXTRA += test-hpp
