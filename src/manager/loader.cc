// manager/loader.cc — finding modules on the module path and the generic
// driver options (SPEC §1 "Generic driver options").
#include "manager/loader.hh"

#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "manager/options.hh"

namespace iopkt {

std::vector<std::string> module_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("IOPKT_MODULE_PATH")) {
    std::stringstream ss(env);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
      if (!dir.empty()) {
        dirs.push_back(dir);
      }
    }
  }
  dirs.emplace_back(IOPKT_BUILD_MODULE_DIR);
  dirs.emplace_back(IOPKT_INSTALL_MODULE_DIR);
  return dirs;
}

Result<std::string, std::string> resolve_module(const std::string& name, const char* kind_prefix) {
  if (name.empty()) {
    return Err(std::string("empty module name"));
  }
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), R_OK) != 0) {
      return Err("cannot read module " + name);
    }
    return name;
  }
  // io-pkt accepts "e1000", "devnp-e1000" and "devnp-e1000.so".
  std::string file = name;
  if (file.rfind(kind_prefix, 0) != 0) {
    file = kind_prefix + file;
  }
  if (file.size() < 3 || file.compare(file.size() - 3, 3, ".so") != 0) {
    file += ".so";
  }
  std::string tried;
  for (const auto& dir : module_search_path()) {
    std::string path = dir + "/" + file;
    if (access(path.c_str(), R_OK) == 0) {
      return path;
    }
    tried += (tried.empty() ? "" : ", ") + dir;
  }
  return Err("cannot find " + file + " (searched " + tried +
             "; set IOPKT_MODULE_PATH or give a path)");
}

namespace {

std::optional<std::array<uint8_t, 6>> parse_mac(const std::string& text) {
  // 12 hex digits, as io-pkt's mac= (separators ':' or '-' also accepted).
  std::string hex;
  for (char c : text) {
    if (c == ':' || c == '-') {
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    hex += c;
  }
  if (hex.size() != 12) {
    return std::nullopt;
  }
  std::array<uint8_t, 6> mac{};
  for (int i = 0; i < 6; ++i) {
    mac[i] = static_cast<uint8_t>(std::stoul(hex.substr(i * 2, 2), nullptr, 16));
  }
  if (mac[0] & 1) {
    return std::nullopt;  // a multicast address cannot be an interface's
  }
  return mac;
}

}  // namespace

Result<GenericDriverOptions, std::string> split_generic_driver_options(const std::string& list) {
  GenericDriverOptions out;
  if (list.empty()) {
    return out;
  }
  auto items = split_option_list(list);
  if (!items) {
    return Err(items.error());
  }
  for (const auto& it : *items) {
    if (it.key == "name") {
      if (!it.has_value || it.value.empty()) {
        return Err(std::string("driver option name= needs a prefix, e.g. name=wan"));
      }
      out.name = it.value;
    } else if (it.key == "unit") {
      auto v = parse_int(it.value);
      if (!it.has_value || !v || *v > 9999) {
        return Err("driver option unit=" + it.value + " is not a number up to 9999");
      }
      if (*v >= 0) {
        out.unit = static_cast<int>(*v);  // negative: ignored, as io-pkt
      }
    } else if (it.key == "mac") {
      auto mac = parse_mac(it.value);
      if (!mac) {
        return Err("driver option mac=" + it.value + " is not 12 hex digits of a unicast address");
      }
      out.mac = mac;
    } else if (it.key == "mtu") {
      auto v = parse_int(it.value);
      if (!it.has_value || !v || *v < 68 || *v > 65535) {
        return Err("driver option mtu=" + it.value + " is not a number in 68..65535");
      }
      out.mtu = static_cast<uint32_t>(*v);
    } else if (it.key == "did" || it.key == "vid" || it.key == "devno" || it.key == "busno") {
      return Err("driver option " + it.key +
                 "= selects a USB device; no iopkt driver attaches to USB devices");
    } else {
      if (!out.driver_options.empty()) {
        out.driver_options += ',';
      }
      out.driver_options += it.key;
      if (it.has_value) {
        out.driver_options += '=' + it.value;
      }
    }
  }
  return out;
}

}  // namespace iopkt
