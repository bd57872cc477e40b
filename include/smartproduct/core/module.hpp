#pragma once
// The module kit. Every capability of the daemon is a Module in its own folder
// (src/modules/<name>/module.cpp) and one line in the daemon's module list (src/app/modules.cpp).
//
// Life cycle, driven by the daemon in list order (stop and destruction in reverse):
//   configure(section)   read and validate [name]; no side effects (also runs for --check-config)
//   build(context)       repositories, services, bus subscriptions; provide() services that
//                        modules later in the list may require()
//   register_routes()    HTTP routes (all modules are built by then)
//   register_topics()    MQTT subscriptions and their handlers
//   start()              background work (after the event bus runs, before MQTT and HTTP start)
//   stop()               before the store closes; the bus has delivered everything queued
//   reload()             SIGHUP
// Modules never call each other's internals to say that something happened: they publish a
// domain event on the bus (after the write commits) and whoever cares subscribes.

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/core/metrics.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::http {
class Router;
}
namespace sp::mqtt {
class Publisher;
class TopicRouter;
}  // namespace sp::mqtt
namespace sp::sqlite {
class Store;
}

namespace sp {

/// Services modules offer to the modules after them in the list, by type.
class ServiceRegistry {
 public:
  template <class T>
  void provide(T& service) {
    // Stored untyped; find<T>() restores the exact type (const included) it was provided as.
    services_[std::type_index(typeid(T))] = const_cast<void*>(static_cast<const void*>(&service));
  }
  /// The service, or null when no module before this one provides it.
  template <class T>
  T* find() const {
    auto it = services_.find(std::type_index(typeid(T)));
    return it == services_.end() ? nullptr : static_cast<T*>(it->second);
  }
  /// The service. A module list in the wrong order is a bug of the daemon, not a runtime
  /// condition: throws std::logic_error, which the daemon reports with the module's name.
  template <class T>
  T& get() const {
    if (T* t = find<T>()) return *t;
    throw std::logic_error(std::string("needs a service no module before it provides (") +
                           typeid(T).name() + "): check the module list's order");
  }

 private:
  std::unordered_map<std::type_index, void*> services_;
};

/// What a module is built from. Everything outlives the module.
struct ModuleContext {
  const config::DaemonConfig& config;  // core settings ([storage], [broker], [http], ...)
  sqlite::Store& store;                // the databases (module.cpp picks its repositories)
  const Clock& clock;
  EventBus& bus;
  mqtt::Publisher& publisher;  // to the broker, whichever connection is current
  ServiceRegistry& services;
};

class Module {
 public:
  virtual ~Module() = default;

  /// The module's name = its config section.
  virtual std::string_view name() const = 0;
  /// Reads [name()] into the module's own settings; problems are recorded in the section.
  /// `core` holds the core sections, already read (e.g. [storage] data_dir for defaults).
  virtual void configure(config::Section& section, const config::DaemonConfig& core) = 0;
  virtual Result<void> build(ModuleContext& context) = 0;
  virtual void register_routes(http::Router& /*router*/) {}
  virtual void register_topics(mqtt::TopicRouter& /*topics*/) {}
  virtual void report_metrics(std::vector<MetricSample>& /*out*/) const {}
  virtual Result<void> start() { return {}; }
  virtual void stop() {}
  virtual void reload() {}
};

}  // namespace sp
