# Turns openapi.json into a C++ source defining sp::api::detail::kOpenApiJson (bytes as hex, so the
# document may contain any character). Run in script mode: -DINPUT=... -DOUTPUT=...
file(READ ${INPUT} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${content}")
file(WRITE ${OUTPUT}.tmp
  "// Generated from ${INPUT} by embed_openapi.cmake; do not edit.\n"
  "#include <string_view>\n"
  "namespace sp::api::detail {\n"
  "static const char kBytes[] = {${bytes} 0};\n"
  "extern const std::string_view kOpenApiJson{kBytes, sizeof(kBytes) - 1};\n"
  "}  // namespace sp::api::detail\n")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
