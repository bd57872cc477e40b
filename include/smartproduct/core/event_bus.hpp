#pragma once
// The in-process event bus: modules tell each other what happened without knowing who listens.
//
// Publishers are services; they publish a typed domain event (a plain struct declared in the
// publishing module's events.hpp) *after* the write that caused it committed. Subscribers are
// lanes: each lane is one subscriber with its own bounded FIFO queue and its own thread, so
//  - publish() never blocks and never runs subscriber code: it is safe on the MQTT io thread,
//    an HTTP worker or the store's writer completion;
//  - one lane sees the events it subscribed to in publish order (per publishing thread; events
//    published by different threads interleave in the order they reached the bus);
//  - lanes are independent: a slow lane delays nobody else, and no order holds across lanes;
//  - a handler that throws is logged and counted; the lane goes on with the next event;
//  - a full lane drops the new event (counted in smartproduct_bus_dropped_total) and, once its
//    queue has drained, calls the lane's `on_overflow` so the subscriber can resynchronise from
//    the store (the store, not the bus, is the source of truth).
// Subscriptions are made while modules are built, before start(); stop() delivers what is queued
// and joins the threads.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <vector>

namespace sp {

/// How one subscriber lane behaves (EventBus::lane()).
struct BusLaneOptions {
  /// Events queued at most before new ones are dropped for this lane.
  std::size_t capacity = 65536;
  /// Runs on the lane's thread after a drop, once the queue is empty again.
  std::function<void()> on_overflow;
};

class EventBus {
 public:
  using LaneOptions = BusLaneOptions;

  /// One subscriber: an ordered queue and a thread. Owned by the bus.
  class Lane {
   public:
    /// Adds a handler for events of type E on this lane (before EventBus::start()).
    template <class E>
    Lane& on(std::function<void(const E&)> handler) {
      add(std::type_index(typeid(E)),
          [h = std::move(handler)](const void* event) { h(*static_cast<const E*>(event)); });
      return *this;
    }

    const std::string& name() const;

    struct Stats {
      std::uint64_t delivered = 0;
      std::uint64_t dropped = 0;
      std::uint64_t failed = 0;  // handler threw
      std::size_t queued = 0;
    };
    Stats stats() const;

    ~Lane();
    Lane(const Lane&) = delete;
    Lane& operator=(const Lane&) = delete;

   private:
    friend class EventBus;
    struct Impl;
    explicit Lane(std::string name, LaneOptions options);
    void add(std::type_index type, std::function<void(const void*)> handler);
    std::unique_ptr<Impl> impl_;
  };

  EventBus();
  ~EventBus();  // stop()s
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  /// A new subscriber lane named for logs and metrics (usually the module's name).
  Lane& lane(std::string name, LaneOptions options = {});

  /// Queues `event` for every lane with a handler for E. Never blocks on subscribers.
  template <class E>
  void publish(E event) {
    publish_erased(std::type_index(typeid(E)), std::make_shared<const E>(std::move(event)));
  }

  /// True when some lane handles E: lets a publisher skip building an event nobody reads.
  template <class E>
  bool has_subscribers() const {
    return has_subscribers_erased(std::type_index(typeid(E)));
  }

  /// Starts the lanes' threads. Events published before start() wait in the queues.
  void start();
  /// Delivers everything queued, then stops the threads. Idempotent.
  void stop();
  /// Blocks until every lane's queue is empty and no handler runs (tests, orderly shutdown).
  void drain();

  std::vector<const Lane*> lanes() const;

 private:
  void publish_erased(std::type_index type, std::shared_ptr<const void> event);
  bool has_subscribers_erased(std::type_index type) const;

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::unordered_map<std::type_index, std::vector<Lane*>> routes_;
  bool started_ = false;
};

}  // namespace sp
