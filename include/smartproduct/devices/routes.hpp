#pragma once
// REST binding of the devices module (the seed's registration and device routes; every route
// needs a token):
//   POST   /api/registration                     {deviceId, deviceName, modelNumber[, claimCode]}
//   GET    /api/registration                     bare array, by deviceName
//   GET    /api/devices[?limit=&lastevalkey=]    bare array without paging parameters, else
//                                                {Items, Count, LastEvaluatedKey?}
//   GET    /api/devices?q=&limit=&lastevalkey=   fleet search (devices/query.hpp), paged, by
//                                                thingName; 422 InvalidSearchQuery + position
//   GET    /api/devices/aggregate?q=&field=&type=count|stats|cardinality
//   GET    /api/devices/{deviceId}
//   DELETE /api/devices/{deviceId}               "Delete successful"
//   GET    /api/devices/{deviceId}/certificates  {Items}
//   POST   /api/devices/{deviceId}/certificates/{fingerprint}/revoke
//   GET    /api/admin/security-events?limit=&before=&deviceId=   (admins) {Items, next?}
//   GET    /api/connection-info                  where and how devices connect (any user)

#include "smartproduct/devices/search.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"

namespace sp::devices {

/// Registers the routes; `service` and `auth` must outlive the router.
void add_device_routes(http::Router& router, DeviceService& service, FleetSearch& search,
                       const identity::Authenticator& auth);

/// What a device (and the console's registration instructions) needs to reach the broker.
struct ConnectionInfo {
  std::string mqtt_host;  // empty: the host name the client used to reach this API
  std::uint16_t mqtt_port = 8883;
  std::string root_ca_pem;  // trust anchor of the broker's server certificate
  std::string telemetry_topic;
  std::string event_topic;
};

/// GET /api/connection-info → {mqttHost, mqttPort, rootCaPem, telemetryTopic, eventTopic}.
void add_connection_info_route(http::Router& router, ConnectionInfo info,
                               const identity::Authenticator& auth);

}  // namespace sp::devices
