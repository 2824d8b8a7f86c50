# The linker flags of the glibc 2.28 floor (MICROADAM_PORTABLE): one -Wl,--wrap=NAME for each
# PIN_TO(NAME, ...) line and each __wrap_ stand-in of csrc/compat/glibc_floor.cpp, the one list of
# glibc symbols that are newer than the floor on the build machine. scripts/check-glibc-floor.js
# fails the prebuild if a newer symbol is left (a new toolchain may bring more: add them there).
file(STRINGS ${CMAKE_CURRENT_LIST_DIR}/../csrc/compat/glibc_floor.cpp MICROADAM_GLIBC_FLOOR_LINES
     REGEX "^PIN_TO\\(|__wrap_[A-Za-z0-9_]+( =|\\()")
set(MICROADAM_GLIBC_FLOOR_WRAPS)
foreach(line ${MICROADAM_GLIBC_FLOOR_LINES})
  if(line MATCHES "^PIN_TO\\(([A-Za-z0-9_]+),")
    list(APPEND MICROADAM_GLIBC_FLOOR_WRAPS "-Wl,--wrap=${CMAKE_MATCH_1}")
  elseif(line MATCHES "__wrap_([A-Za-z0-9_]+)( =|\\()")
    list(APPEND MICROADAM_GLIBC_FLOOR_WRAPS "-Wl,--wrap=${CMAKE_MATCH_1}")
  endif()
endforeach()
# glibc < 2.34 keeps the old versions in these libraries (empty stubs on newer glibc); named by
# soname because -lpthread finds only an empty static archive on glibc >= 2.34.
list(APPEND MICROADAM_GLIBC_FLOOR_WRAPS -Wl,--no-as-needed -l:libpthread.so.0 -l:libdl.so.2 -l:librt.so.1 -Wl,--as-needed)
