#pragma once

#include <random>
#include <string_view>

namespace sp::sim {

/// The seed simulator's power modes: off, cooling (AC) and heating.
enum class PowerStatus { kOff, kAc, kHeat };

std::string_view to_string(PowerStatus status);

/// The seed simulator's temperature "physics", in °F: every tick OFF moves ±0.5 at random, AC goes
/// down 0.5, HEAT goes up 0.5, rounded to 2 decimals; nothing regulates towards the target (as in
/// the seed). Starts at 71.5 / 71.5, OFF.
class TemperatureModel {
 public:
  static constexpr double kInitialTemperature = 71.5;
  static constexpr double kChange = 0.5;

  explicit TemperatureModel(unsigned seed);

  /// Advances one tick and returns the new actual temperature.
  double step();

  double actual() const { return actual_; }
  double target() const { return target_; }
  PowerStatus power() const { return power_; }
  void set_target(double target) { target_ = target; }
  void set_power(PowerStatus power) { power_ = power; }

 private:
  double actual_ = kInitialTemperature;
  double target_ = kInitialTemperature;
  PowerStatus power_ = PowerStatus::kOff;
  std::minstd_rand rng_;
};

}  // namespace sp::sim
