# TarryPlugin.cmake - build tarry plugins and their tests with CMake.
#
# Part of the installed tarry package (find_package(tarry) includes it) and
# of tarry's own build. Needs the targets tarry::sdk (the include folder with
# tarry.h) and tarry::test (the test kit library).
#
#   tarry_add_plugin(NAME SOURCES a.c b.c... [LINK_LIBRARIES libs...] [OUTPUT_DIRECTORY dir])
#
# makes NAME.so: a MODULE (dlopen()ed by the host, never linked against) with
# no `lib` prefix, compiled against tarry.h, with hidden visibility (only the
# `tarry_plugin` descriptor is exported), with warnings on (-Wall -Wextra,
# on GCC and Clang) and linked with `-z defs`, so a symbol no library
# provides fails the build instead of the host's dlopen(). C and C++ sources
# both work (tarry.h is C++-clean).
#
#   tarry_add_plugin_test(NAME SOURCES test.c... [PLUGIN plugin_target] [LINK_LIBRARIES libs...])
#
# makes an executable NAME linked with the test kit (tarry_test.h) and
# registers it with CTest (call enable_testing() or include(CTest) first).
# With PLUGIN, the test is built after the plugin and gets its path as the C
# string macro TARRY_PLUGIN_PATH, for tarry_test_load(t, TARRY_PLUGIN_PATH).

function(tarry_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT_DIRECTORY" "SOURCES;LINK_LIBRARIES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "tarry_add_plugin(${name}): give the plugin's sources: tarry_add_plugin(${name} SOURCES ${name}.c)")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "tarry_add_plugin(${name}): unexpected arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE tarry::sdk ${ARG_LINK_LIBRARIES})
  target_link_options(${name} PRIVATE "LINKER:-z,defs")
  target_compile_options(${name} PRIVATE "$<$<COMPILE_LANG_AND_ID:C,GNU,Clang>:-Wall;-Wextra>"
    "$<$<COMPILE_LANG_AND_ID:CXX,GNU,Clang>:-Wall;-Wextra>")
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
endfunction()

function(tarry_add_plugin_test name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "PLUGIN" "SOURCES;LINK_LIBRARIES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "tarry_add_plugin_test(${name}): give the test's sources: SOURCES test_${name}.c")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "tarry_add_plugin_test(${name}): unexpected arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE tarry::test ${ARG_LINK_LIBRARIES})
  if(ARG_PLUGIN)
    add_dependencies(${name} ${ARG_PLUGIN})
    target_compile_definitions(${name} PRIVATE "TARRY_PLUGIN_PATH=\"$<TARGET_FILE:${ARG_PLUGIN}>\"")
  endif()
  add_test(NAME ${name} COMMAND ${name})
endfunction()
