"""Autograd as PyTorch's documentation and micrograd's README show it.

micrograd's comparison with PyTorch (a tanh neuron in float64), then the torch.autograd tutorials: the
gradient argument of backward, requires_grad through operations, grad_fn and next_functions, detach and
no_grad, gradient accumulation over repeated backward calls with retain_graph, torch.autograd.grad with
create_graph (a second derivative) and allow_unused, hooks, retain_grad, the grad-mode context managers and
decorator, torch.autograd.backward with inputs=, the error for a second backward through a freed graph, and
torch.autograd.functional's jacobian and hessian. Node objects print with a memory address in both
libraries, so the script prints their class names.
"""
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

# micrograd comparison
x1 = torch.Tensor([2.0]).double(); x1.requires_grad = True
x2 = torch.Tensor([0.0]).double(); x2.requires_grad = True
w1 = torch.Tensor([-3.0]).double(); w1.requires_grad = True
w2 = torch.Tensor([1.0]).double(); w2.requires_grad = True
b = torch.Tensor([6.8813735870195432]).double(); b.requires_grad = True
n = x1*w1 + x2*w2 + b
o = torch.tanh(n)
print(o.data.item())
o.backward()
print('---')
print('x2', x2.grad.item())
print('w2', w2.grad.item())
print('x1', x1.grad.item())
print('w1', w1.grad.item())

# autograd mechanics / docs
x = torch.randn(5, requires_grad=True) if False else torch.tensor([0.5, -1.0, 2.0, 0.1, 3.0], requires_grad=True)
y = x.pow(2)
y = x.exp()
print([(type(node).__name__, k) for node, k in y.grad_fn.next_functions])
a = torch.tensor([2., 3.], requires_grad=True)
b = torch.tensor([6., 4.], requires_grad=True)
Q = 3*a**3 - b**2
external_grad = torch.tensor([1., 1.])
Q.backward(gradient=external_grad)
print(9*a**2 == a.grad)
print(-2*b == b.grad)
x = torch.rand(5, 5)
y = torch.rand(5, 5)
z = torch.rand((5, 5), requires_grad=True)
a = x + y
print(f"Does `a` require gradients?: {a.requires_grad}")
b = x + z
print(f"Does `b` require gradients?: {b.requires_grad}")

x = torch.ones(5)
y = torch.zeros(3)
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
z = torch.matmul(x, w)+b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print(f"Gradient function for z = {type(z.grad_fn).__name__}")
print(f"Gradient function for loss = {type(loss.grad_fn).__name__}")
loss.backward()
print(w.grad.shape, b.grad.shape)
z = torch.matmul(x, w)+b
print(z.requires_grad)
with torch.no_grad():
    z = torch.matmul(x, w)+b
print(z.requires_grad)
z = torch.matmul(x, w)+b
z_det = z.detach()
print(z_det.requires_grad)

inp = torch.eye(4, 5, requires_grad=True)
out = (inp+1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"First call\n{inp.grad}")
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nSecond call\n{inp.grad}")
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nCall after zeroing gradients\n{inp.grad}")

# torch.autograd.grad, higher order, hooks
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = (x ** 3).sum()
(g,) = torch.autograd.grad(y, x, create_graph=True)
print(g)
(gg,) = torch.autograd.grad(g.sum(), x)
print(gg)
v = torch.tensor([1.0, 2.0], requires_grad=True)
h = v.register_hook(lambda grad: grad * 2)
v.backward(torch.tensor([1.0, 1.0]))
print(v.grad)
h.remove()
u = torch.tensor([1.0, 2.0], requires_grad=True)
s = u * 2
s.retain_grad()
s.sum().backward()
print(s.grad, s.is_leaf, u.is_leaf)
try:
    torch.autograd.grad((u * 3).sum(), [u, v])
except RuntimeError as e:
    print("RuntimeError:", str(e).splitlines()[0])
print(torch.autograd.grad((u * 3).sum(), [u, v], allow_unused=True))
with torch.set_grad_enabled(False):
    print((u * 2).requires_grad)
with torch.inference_mode():
    k = u * 2
print(k.requires_grad, torch.is_inference_mode_enabled())
with torch.no_grad():
    with torch.enable_grad():
        print((u * 2).requires_grad)
@torch.no_grad()
def doubler(x):
    return x * 2
print(doubler(u).requires_grad)
print(torch.is_grad_enabled())
torch.autograd.backward([(u ** 2).sum()], inputs=[u])
print(u.grad)
x = torch.tensor(2.0, requires_grad=True)
y = x * x
y.backward(retain_graph=True)
try:
    y.backward(); y.backward(); print(x.grad)
except RuntimeError as e:
    print(str(e).splitlines()[0])
z = x * x
z.backward()
try:
    z.backward()
except RuntimeError as e:
    print(str(e).splitlines()[0])
print(torch.autograd.functional.jacobian(lambda t: t ** 2, torch.tensor([1.0, 2.0])))
print(torch.autograd.functional.hessian(lambda t: (t ** 3).sum(), torch.tensor([1.0, 2.0])))
