# test_no_testing.cmake - a user's or packager's build: BUILD_TESTING=OFF configures and
# builds the host, the SDK and the example plugins on a machine without cmocka and python3.
#
#   cmake -DSRC=<source tree> -DBIN=<scratch build folder> -DCC=<C compiler> -P test_no_testing.cmake
#
# cmocka is really taken away: pkg-config sees a copy of the system's .pc folders without
# cmocka.pc. python3 cannot be taken away from find_program without hiding /usr/bin (and
# the compiler's tools with it), so the test checks that nothing looked for it: the cache
# of the configured build has no PYTHON3 entry. Fails (FATAL_ERROR) on anything else.
foreach(var SRC BIN CC)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "test_no_testing: pass -D${var}=...")
  endif()
endforeach()

file(REMOVE_RECURSE ${BIN})
file(MAKE_DIRECTORY ${BIN}/pkgconfig)

# A pkg-config search path with every package of this machine but cmocka.
execute_process(COMMAND pkg-config --variable pc_path pkg-config
  OUTPUT_VARIABLE pc_path OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "test_no_testing: pkg-config --variable pc_path pkg-config failed")
endif()
string(REPLACE ":" ";" pc_dirs "${pc_path}")
foreach(dir ${pc_dirs})
  file(GLOB pcs ${dir}/*.pc)
  foreach(pc ${pcs})
    get_filename_component(name ${pc} NAME)
    if(NOT name STREQUAL "cmocka.pc" AND NOT EXISTS ${BIN}/pkgconfig/${name})
      file(CREATE_LINK ${pc} ${BIN}/pkgconfig/${name} SYMBOLIC)
    endif()
  endforeach()
endforeach()
set(ENV{PKG_CONFIG_LIBDIR} ${BIN}/pkgconfig)
unset(ENV{PKG_CONFIG_PATH})
execute_process(COMMAND pkg-config --exists cmocka RESULT_VARIABLE rc)
if(rc EQUAL 0)
  message(FATAL_ERROR "test_no_testing: cmocka is still visible to pkg-config")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${BIN}/build -DBUILD_TESTING=OFF
  -DCMAKE_C_COMPILER=${CC} -DCMAKE_BUILD_TYPE=RelWithDebInfo RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "test_no_testing: configuring with BUILD_TESTING=OFF and no cmocka failed")
endif()
file(STRINGS ${BIN}/build/CMakeCache.txt looked_for REGEX "^(PYTHON3|[A-Za-z_]*CMOCKA)[A-Za-z_]*:")
if(looked_for)
  message(FATAL_ERROR "test_no_testing: the configure looked for python3 or cmocka: ${looked_for}")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} --build ${BIN}/build -j 2 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "test_no_testing: building with BUILD_TESTING=OFF failed")
endif()
foreach(f tarry plugins/examples.so plugins/onboarding.so libtarry_test.a)
  if(NOT EXISTS ${BIN}/build/${f})
    message(FATAL_ERROR "test_no_testing: the build has no ${f}")
  endif()
endforeach()
foreach(f test_store kit_test_kit tarry-bench test-plugins)
  if(EXISTS ${BIN}/build/${f})
    message(FATAL_ERROR "test_no_testing: BUILD_TESTING=OFF still built ${f}")
  endif()
endforeach()
execute_process(COMMAND ${BIN}/build/tarry --help RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "test_no_testing: the built tarry --help exits ${rc}")
endif()
file(REMOVE_RECURSE ${BIN})
message(STATUS "ok: BUILD_TESTING=OFF builds tarry, the SDK and the plugins without cmocka or python3")
