# Installation layout and the Debian package (CPack DEB), built by `./dev.sh package`.
#   /usr/bin                          smartproductd, smartproductctl, smartproduct-sim
#   /usr/lib/smartproduct             mosquitto_smartproduct.so (init copies it into the instance)
#   /usr/share/smartproduct/web       the console (web/dist, built by npm before packaging)
#   /usr/share/smartproduct           smartproduct.toml and mosquitto.conf templates (reference)
#   /lib/systemd/system               smartproductd.service
#   /usr/share/bash-completion/...    smartproductctl completion
#   /usr/share/man/man1               pages generated from --help by help2man (when installed)
# The instance itself (/etc/smartproduct, /var/lib/smartproduct) is created by postinst with
# `smartproductctl init`, never shipped: keys are made on the machine that uses them.

set(SP_PACKAGE_DIR ${PROJECT_SOURCE_DIR}/config)
# The package installs under /usr (CPack installs with DESTDIR and this prefix, because the unit's
# destination is absolute).
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Installation prefix" FORCE)
endif()

install(TARGETS smartproductd smartproductctl smartproduct-sim RUNTIME DESTINATION bin)
install(TARGETS mosquitto_smartproduct LIBRARY DESTINATION lib/smartproduct)
# The console: built by `npm run build` into web/dist; packaging refuses to go on without it.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/web/dist/ DESTINATION share/smartproduct/web
        OPTIONAL)
install(FILES ${SP_PACKAGE_DIR}/smartproduct.toml ${SP_PACKAGE_DIR}/mosquitto.conf.in
              ${SP_PACKAGE_DIR}/services.acl.in
        DESTINATION share/smartproduct)
install(FILES ${SP_PACKAGE_DIR}/systemd/smartproductd.service DESTINATION /lib/systemd/system)
install(FILES ${SP_PACKAGE_DIR}/bash-completion/smartproductctl
        DESTINATION share/bash-completion/completions)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/smartproduct)
install(FILES ${SP_PACKAGE_DIR}/debian/copyright DESTINATION share/doc/smartproduct)

# Debian wants a gzipped changelog next to the copyright file (`changelog.gz`: a native package,
# the version has no Debian revision).
set(SP_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/package/changelog.gz)
add_custom_command(
  OUTPUT ${SP_CHANGELOG_GZ}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/package
  COMMAND sh -c "gzip -9n < '${SP_PACKAGE_DIR}/debian/changelog' > '${SP_CHANGELOG_GZ}'"
  DEPENDS ${SP_PACKAGE_DIR}/debian/changelog
  VERBATIM)
set(SP_PACKAGE_DOCS ${SP_CHANGELOG_GZ})

# Manual pages from each program's --help (help2man, Debian package `help2man`).
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(SP_WHATIS_smartproductd "self-hosted IoT backend daemon (HTTPS API, console, MQTT broker)")
  set(SP_WHATIS_smartproductctl "operate a smartproduct instance (init, CAs, users, backup)")
  set(SP_WHATIS_smartproduct-sim "simulated smartproduct devices over MQTT with mutual TLS")
  foreach(prog smartproductd smartproductctl smartproduct-sim)
    set(page ${CMAKE_BINARY_DIR}/package/${prog}.1.gz)
    add_custom_command(
      OUTPUT ${page}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/package
      COMMAND sh -c "'${HELP2MAN}' --no-info --no-discard-stderr --section=1 --source=smartproduct \
--version-string='${PROJECT_VERSION}' --name='${SP_WHATIS_${prog}}' \
'$<TARGET_FILE:${prog}>' | gzip -9n > '${page}'"
      DEPENDS ${prog}
      VERBATIM)
    list(APPEND SP_PACKAGE_DOCS ${page})
    install(FILES ${page} DESTINATION share/man/man1)
  endforeach()
else()
  message(STATUS "help2man not found: the package will have no manual pages (./dev.sh package installs it)")
endif()
add_custom_target(sp_package_docs ALL DEPENDS ${SP_PACKAGE_DOCS})
install(FILES ${SP_CHANGELOG_GZ} DESTINATION share/doc/smartproduct)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME smartproduct)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "smartproduct maintainers <maintainers@smartproduct.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "self-hosted IoT backend for connected products")
set(CPACK_PACKAGE_DESCRIPTION
    "smartproduct runs the backend of a fleet of connected devices on one\n\
machine: devices connect to mosquitto over mutual TLS with X.509\n\
certificates; the daemon stores their telemetry and events in SQLite,\n\
tracks presence, shadows and commands, and serves a REST API and a web\n\
console over HTTPS. Includes the operator CLI, a device simulator, the\n\
broker plugin and a systemd unit.")
set(CPACK_SET_DESTDIR ON)  # the unit goes to /lib/systemd/system, outside the prefix
set(CPACK_WARN_ON_ABSOLUTE_INSTALL_DESTINATION OFF)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://smartproduct.invalid/")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# mosquitto: the managed broker (/usr/sbin/mosquitto);
# adduser: postinst creates the system user.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "mosquitto (>= 2.0), adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${SP_PACKAGE_DIR}/debian/postinst ${SP_PACKAGE_DIR}/debian/prerm
    ${SP_PACKAGE_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
