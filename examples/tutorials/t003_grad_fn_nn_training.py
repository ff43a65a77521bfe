"""Seed 003: Section 2 -- Autograd (Automatic Differentiation) in PyTorch.

grad_fn, backward on a mean, zeroing, no_grad / requires_grad_ / detach, a
training loop with nn, optim.SGD and MSELoss, vector-Jacobian products,
gradient accumulation.

The tutorial's snippets carry no recorded output; each snippet is run in order
and prints what its comments show. Where the comments disagree with PyTorch,
PyTorch wins (see the notes at 2.5 and 2.11). `SimpleNN`, `input` and
`data_loader` are left undefined by the tutorial; they are defined here with
fixed weights and fixed data so the output is deterministic.
"""
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

nn = torch.nn


def show_error(e):
    print(f"{type(e).__name__}: {str(e).splitlines()[0]}")


# ---------------------------------------------------------------
# 2.3 Tensor and requires_grad
# ---------------------------------------------------------------
print("## 2.3 Tensor and requires_grad")

# Create a tensor with requires_grad=True
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
print(x)

# ---------------------------------------------------------------
# 2.4 Computational Graph and grad_fn
# ---------------------------------------------------------------
print("\n## 2.4 Computational Graph and grad_fn")

x = torch.tensor([2.0, 3.0], requires_grad=True)
y = x + 2  # Perform an operation

# y has a grad_fn since it was created from x
# The tutorial prints y.grad_fn (<AddBackward0 object at 0x...>); the address
# varies from run to run, so print the node's class name instead.
print(type(y.grad_fn).__name__)  # AddBackward0

# A tensor created without requires_grad=True has no grad_fn
print(torch.tensor([2.0, 3.0]).grad_fn)  # None

# ---------------------------------------------------------------
# 2.5 Gradient Calculation with .backward()
# ---------------------------------------------------------------
print("\n## 2.5 Gradient Calculation with .backward()")

x = torch.tensor([2.0, 3.0], requires_grad=True)
y = x + 2
z = y * y * 3  # Some complex operation
z = z.mean()   # Average the result

# Compute the gradients of z w.r.t. x
z.backward()

# x.grad stores the gradient of z with respect to x
# The tutorial's comment says tensor([13., 18.]); PyTorch gives
# dz/dx = 6 * (x + 2) / 2 = tensor([12., 15.])
print(x.grad)

# ---------------------------------------------------------------
# 2.7 Stopping Gradient Tracking
# ---------------------------------------------------------------
print("\n## 2.7 Stopping Gradient Tracking")


class SimpleNN(nn.Module):  # "Some neural network": one linear layer, 1 -> 1
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        return self.linear(x)


model = SimpleNN()
# nn.Linear's random init is backend-specific: set the parameters explicitly
with torch.no_grad():
    model.linear.weight.copy_(torch.tensor([[0.5]]))
    model.linear.bias.copy_(torch.tensor([0.0]))
input = torch.tensor([[1.0], [2.0]])

# Using torch.no_grad()
with torch.no_grad():
    result = model(input)  # No gradient computation
print(result)
print(result.requires_grad)

# Setting requires_grad=False
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
x.requires_grad_(False)  # Now, no gradient tracking for x
print(x.requires_grad)
print(x)

# ---------------------------------------------------------------
# 2.8 Detaching Tensors
# ---------------------------------------------------------------
print("\n## 2.8 Detaching Tensors")

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x.detach()  # y has the same values but does not track gradients
print(y)
print(y.requires_grad)

# ---------------------------------------------------------------
# 2.6 / 2.9 Zeroing gradients and a simple training loop
# ---------------------------------------------------------------
print("\n## 2.9 Backpropagation through the Computational Graph")

# Fixed data for y = 2x + 1 (in place of the tutorial's undefined data_loader),
# two batches of four samples each
X = torch.arange(8, dtype=torch.float32).reshape(8, 1) / 4
Y = 2 * X + 1
data_loader = [(X[0:4], Y[0:4]), (X[4:8], Y[4:8])]

model = SimpleNN()  # Some neural network
# Explicit initial parameters instead of nn.Linear's random init
with torch.no_grad():
    model.linear.weight.copy_(torch.tensor([[0.5]]))
    model.linear.bias.copy_(torch.tensor([0.0]))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loss_fn = torch.nn.MSELoss()

for epoch in range(3):  # the tutorial shows a single pass over data_loader
    for data, target in data_loader:
        optimizer.zero_grad()  # Zero the gradients
        output = model(data)   # Forward pass
        loss = loss_fn(output, target)  # Compute loss
        loss.backward()  # Backpropagate the loss
        optimizer.step()  # Update model parameters
        print(f"epoch {epoch}: loss = {loss.item():.4f}")

print(f"weight = {model.linear.weight.item():.4f}, bias = {model.linear.bias.item():.4f}")

# ---------------------------------------------------------------
# 2.11 Gradient Accumulation
# ---------------------------------------------------------------
print("\n## 2.11 Gradient Accumulation")

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x + 2
z = y * y * 3
z = z.mean()

z.backward()  # Compute gradients
# The tutorial calls z.backward() again here and says x.grad becomes
# tensor([26., 36.]). In PyTorch the second call raises, because the first
# backward freed the graph's saved tensors:
try:
    z.backward()  # Compute again (gradients will accumulate)
except RuntimeError as e:
    show_error(e)
print(x.grad)  # only the first backward: 2 * (x + 2) = tensor([ 6.,  8., 10.])

# With retain_graph=True the second backward works and gradients accumulate
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x + 2
z = y * y * 3
z = z.mean()

z.backward(retain_graph=True)  # Compute gradients, keep the graph
z.backward()  # Compute again (gradients accumulate)
print(x.grad)  # tensor([12., 16., 20.])

# ---------------------------------------------------------------
# 2.12 Vector-Jacobian Product with .backward()
# ---------------------------------------------------------------
print("\n## 2.12 Vector-Jacobian Product")

# The tutorial only says backward() accepts an argument; a minimal example:
# for non-scalar y, y.backward(v) computes v^T J into x.grad
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x * x  # Jacobian is diag(2x)
v = torch.tensor([1.0, 0.5, 0.25])
y.backward(gradient=v)
print(x.grad)  # v * 2x = tensor([2.0000, 2.0000, 1.5000])
