# Install rules for the relocatable CMake package `EgressLab`: bin/egresslab exported as
# egresslab::egresslab, plus EgressLabConfig.cmake, its version file and EgressLabScenarios.cmake
# under lib/cmake/EgressLab. Include once, after the egresslab target exists.
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

if(NOT TARGET egresslab)
  message(FATAL_ERROR "EgressLabPackage.cmake: include it after harness/cli defines egresslab")
endif()

set(EGRESSLAB_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/EgressLab")

install(TARGETS egresslab EXPORT EgressLabTargets RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(EXPORT EgressLabTargets
  NAMESPACE egresslab::
  FILE EgressLabTargets.cmake
  DESTINATION "${EGRESSLAB_INSTALL_CMAKEDIR}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/EgressLabConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/package/EgressLabConfig.cmake"
  INSTALL_DESTINATION "${EGRESSLAB_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/package/EgressLabConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/package/EgressLabConfig.cmake"
  "${PROJECT_BINARY_DIR}/package/EgressLabConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/EgressLabScenarios.cmake"
  DESTINATION "${EGRESSLAB_INSTALL_CMAKEDIR}")
