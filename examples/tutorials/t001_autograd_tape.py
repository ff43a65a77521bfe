"""Seed 001: Autograd (Kata 2.6) -- autograd as a recording tape.

Basic y = x^2, chain rule z = (x^2 + 1)^3, linear regression trained with
autograd and a no_grad SGD update, and why .zero_() matters.
The "Live Code" block is reproduced unchanged apart from the import header.
"""
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

torch.manual_seed(42)  # kept from the tutorial; nothing below draws random numbers

# --- Simple example: y = x^2 at x=3 ---
print("=== BASIC AUTOGRAD: y = x^2 ===")
x = torch.tensor(3.0, requires_grad=True)
y = x ** 2        # forward pass
y.backward()       # compute dy/dx
print(f"x = {x.item():.1f}")
print(f"y = x^2 = {y.item():.1f}")
print(f"dy/dx (autograd) = {x.grad.item():.1f}")
print(f"dy/dx (manual)   = 2*x = {2*x.item():.1f}\n")

# --- Chain rule: z = (x^2 + 1)^3 ---
print("=== CHAIN RULE: z = (x^2 + 1)^3 ===")
x = torch.tensor(2.0, requires_grad=True)
u = x ** 2 + 1    # u = 5
z = u ** 3         # z = 125
z.backward()
# dz/dx = 3*u^2 * 2*x = 3*25*4 = 300
print(f"x = {x.item():.1f}, u = x^2+1 = {u.item():.1f}, z = u^3 = {z.item():.1f}")
print(f"dz/dx (autograd) = {x.grad.item():.1f}")
print(f"dz/dx (manual)   = 3*u^2 * 2*x = {3 * u.item()**2 * 2 * x.item():.1f}\n")

# --- Linear regression with autograd ---
print("=== LINEAR REGRESSION VIA AUTOGRAD ===")
# Data
sqft = torch.tensor([1.1, 1.3, 1.6, 1.8, 2.1, 2.4], dtype=torch.float32)
price = torch.tensor([190., 230., 310., 350., 420., 480.])

# Parameters (learnable)
w = torch.tensor(0.0, requires_grad=True)
b = torch.tensor(0.0, requires_grad=True)
lr = 0.05

print(f"{'Step':>4} {'Loss':>10} {'w':>8} {'b':>8} {'w.grad':>8} {'b.grad':>8}")
print("=" * 52)

for step in range(8):
    # Forward pass
    pred = w * sqft + b
    loss = ((pred - price) ** 2).mean()

    # Backward pass (computes gradients)
    loss.backward()

    # Print before updating
    print(f"{step:>4} {loss.item():>10.2f} {w.item():>8.3f} "
          f"{b.item():>8.3f} {w.grad.item():>8.1f} {b.grad.item():>8.1f}")

    # Update parameters (gradient descent)
    with torch.no_grad():       # don't track this update
        w -= lr * w.grad
        b -= lr * b.grad

    # CRITICAL: zero gradients for next iteration
    w.grad.zero_()
    b.grad.zero_()

print(f"\nFinal: price = {w.item():.2f} * sqft + {b.item():.2f}")

# --- Why zero_() matters ---
print("\n=== WHY .zero_() IS CRITICAL ===")
x = torch.tensor(3.0, requires_grad=True)
y = x ** 2
y.backward()
print(f"After 1st backward: x.grad = {x.grad.item():.1f}")
y = x ** 2
y.backward()
print(f"After 2nd backward: x.grad = {x.grad.item():.1f}  (accumulated!)")
x.grad.zero_()
y = x ** 2
y.backward()
print(f"After zero + backward: x.grad = {x.grad.item():.1f}  (correct)")
