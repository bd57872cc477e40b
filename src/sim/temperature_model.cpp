#include "temperature_model.hpp"

#include <cmath>

namespace sp::sim {

std::string_view to_string(PowerStatus status) {
  switch (status) {
    case PowerStatus::kAc:
      return "AC";
    case PowerStatus::kHeat:
      return "HEAT";
    case PowerStatus::kOff:
      break;
  }
  return "OFF";
}

TemperatureModel::TemperatureModel(unsigned seed) : rng_(seed) {}

double TemperatureModel::step() {
  double delta = 0;
  switch (power_) {
    case PowerStatus::kAc:
      delta = -kChange;
      break;
    case PowerStatus::kHeat:
      delta = kChange;
      break;
    case PowerStatus::kOff:
      delta = (rng_() & 1U) ? kChange : -kChange;
      break;
  }
  actual_ = std::round((actual_ + delta) * 100.0) / 100.0;
  return actual_;
}

}  // namespace sp::sim
