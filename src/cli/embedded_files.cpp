#include "embedded_files.hpp"

namespace sp::cli {

std::string_view embedded_file(std::string_view name) {
  for (const auto& f : embedded_files()) {
    if (f.name == name) return f.content;
  }
  return {};
}

}  // namespace sp::cli
