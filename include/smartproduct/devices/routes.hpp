#pragma once
// REST binding of the devices module (every route needs a token; seed-behaviour.md §3.3 (3)-(7)):
//   POST   /api/registration                     {deviceId, deviceName, modelNumber[, claimCode]}
//   GET    /api/registration                     bare array, by deviceName
//   GET    /api/devices[?limit=&lastevalkey=]    bare array without paging parameters, else
//                                                {Items, Count, LastEvaluatedKey?}
//   GET    /api/devices/{deviceId}
//   DELETE /api/devices/{deviceId}               "Delete successful"
//   GET    /api/devices/{deviceId}/certificates  {Items}
//   POST   /api/devices/{deviceId}/certificates/{fingerprint}/revoke
//   GET    /api/admin/security-events?limit=&before=&deviceId=   (admins) {Items, next?}

#include "smartproduct/devices/service.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"

namespace sp::devices {

/// Registers the routes; `service` and `auth` must outlive the router.
void add_device_routes(http::Router& router, DeviceService& service,
                       const identity::Authenticator& auth);

}  // namespace sp::devices
