"""A small physics simulation differentiated end to end: find the launch speed that lands a ball on target.

    python examples/projectile.py

A ball with air drag is integrated with explicit Euler steps in a while_loop that runs until it hits the
ground: how many steps that takes depends on the launch. The landing distance (interpolated inside the last
step) is a differentiable function of the launch speed and angle, and fgrad differentiates it through the
data-dependent loop in reverse mode. Newton's method on the speed then lands the ball on the target.
"""
import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad import lax

DT, DRAG, G = 0.005, 0.05, 9.81
TARGET = 30.0                                   # metres


def landing_distance(speed, angle):
    velocity = fnp.stack([speed * fnp.cos(angle), speed * fnp.sin(angle)])

    def in_the_air(state):
        position, _, _ = state
        return position[1] >= 0.0

    def euler_step(state):
        position, velocity, _ = state
        acceleration = -DRAG * velocity * fnp.sqrt(fnp.sum(velocity ** 2)) + fnp.array([0.0, -G])
        return position + DT * velocity, velocity + DT * acceleration, position

    start = fnp.array([0.0, 1e-9])
    position, _, before = lax.while_loop(in_the_air, euler_step, (start, velocity, start))
    # Where the straight line from the last position in the air crosses the ground:
    return before[0] + (position[0] - before[0]) * before[1] / (before[1] - position[1])


angle = np.radians(40.0)
distance_and_slope = fgrad.jit(fgrad.value_and_grad(landing_distance))
speed = 10.0
for iteration in range(6):
    distance, slope = distance_and_slope(speed, angle)
    print(f"iteration {iteration}: speed {speed:8.5f} m/s lands at {float(distance):9.5f} m "
          f"(d distance / d speed = {float(slope):.4f} s)")
    speed = speed - (float(distance) - TARGET) / float(slope)          # Newton's step on the speed

eps = 1e-6
fd = (landing_distance(speed + eps, angle) - landing_distance(speed - eps, angle)) / (2 * eps)
print(f"the derivative through the loop agrees with finite differences: {float(slope):.6f} vs {float(fd):.6f}")
print("and with respect to the angle (same loop, other argument): "
      f"{float(fgrad.grad(landing_distance, argnums=1)(speed, angle)):.4f} m/rad")
