# sp_add_unit_test(<name> SOURCES <files...> LIBS <targets...>)
# Builds one GoogleTest binary and registers each test case with CTest (label "unit").
function(sp_add_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} sp_test_fakes GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
  add_dependencies(sp_unit_tests ${name})
endfunction()
