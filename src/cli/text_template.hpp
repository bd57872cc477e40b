#pragma once
// Small text utilities for generated configuration files.

#include <map>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"

namespace sp::cli {

/// Replaces every `@NAME@` placeholder in `tmpl` with `values.at(NAME)`. Fails (kInternal
/// "TemplateInvalid") when a placeholder has no value, so a template change cannot silently produce
/// a config with a literal `@X@` in it.
Result<std::string> render_template(std::string_view tmpl,
                                    const std::map<std::string, std::string>& values);

/// Sets `key = value_literal` inside `[section]` of a TOML text, keeping the line's trailing
/// comment and everything else untouched. `value_literal` is TOML (e.g. `8443` or `"pki/a.crt"`).
/// Returns false when the key is not present in that section.
bool set_toml_value(std::string& toml, std::string_view section, std::string_view key,
                    std::string_view value_literal);

/// A TOML basic string literal for `s` (quotes and escapes).
std::string toml_string(std::string_view s);

}  // namespace sp::cli
