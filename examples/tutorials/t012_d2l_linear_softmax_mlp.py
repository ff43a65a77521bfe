"""Dive into Deep Learning (d2l.ai), chapters 3 to 5, in its own idioms.

Linear regression from scratch (synthetic data with torch.normal, a Python-`random` minibatch iterator
indexing with tensors, SGD by hand) and concisely (TensorDataset, DataLoader, nn.Sequential, .data.normal_,
.data.fill_, MSELoss); softmax regression pieces (sum with keepdim, fancy indexing with lists and `range`,
argmax(axis=1), .type(dtype)); training classifiers on synthetic 3-class data with CrossEntropyLoss
(reduction='none') and net.apply(init_weights), an MLP from scratch (relu as torch.max against zeros_like,
dropout from a torch.rand mask), and weight decay through parameter groups. The book uses Fashion-MNIST;
here the classes are Gaussian clusters (no download). The regressions' errors are printed with
precision=3: they are differences of nearly equal float32 numbers, and their 4th digit is the last bit
of a float32 sum that PyTorch's BLAS orders differently.
"""
import os
import random
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

nn = torch.nn
data = torch.utils.data

torch.manual_seed(0)
random.seed(0)

def synthetic_data(w, b, num_examples):
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = torch.matmul(X, w) + b
    y += torch.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))

true_w = torch.tensor([2, -3.4])
true_b = 4.2
features, labels = synthetic_data(true_w, true_b, 1000)
print('features:', features[0], '\nlabel:', labels[0])

def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]

batch_size = 10
for X, y in data_iter(batch_size, features, labels):
    print(X, '\n', y)
    break

w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
b = torch.zeros(1, requires_grad=True)
def linreg(X, w, b):
    return torch.matmul(X, w) + b
def squared_loss(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2
def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()
lr = 0.03
num_epochs = 3
net = linreg
loss = squared_loss
for epoch in range(num_epochs):
    for X, y in data_iter(batch_size, features, labels):
        l = loss(net(X, w, b), y)
        l.sum().backward()
        sgd([w, b], lr, batch_size)
    with torch.no_grad():
        train_l = loss(net(features, w, b), labels)
        print(f'epoch {epoch + 1}, loss {float(train_l.mean()):f}')
torch.set_printoptions(precision=3)
print(f'error in estimating w: {true_w - w.reshape(true_w.shape)}')
print(f'error in estimating b: {true_b - b}')
torch.set_printoptions(precision=4)

def load_array(data_arrays, batch_size, is_train=True):
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, batch_size, shuffle=is_train)
data_iter = load_array((features, labels), batch_size)
print(len(next(iter(data_iter))))
net = nn.Sequential(nn.Linear(2, 1))
net[0].weight.data.normal_(0, 0.01)
net[0].bias.data.fill_(0)
loss = nn.MSELoss()
trainer = torch.optim.SGD(net.parameters(), lr=0.03)
for epoch in range(num_epochs):
    for X, y in data_iter:
        l = loss(net(X), y)
        trainer.zero_grad()
        l.backward()
        trainer.step()
    l = loss(net(features), labels)
    print(f'epoch {epoch + 1}, loss {l:f}')
w = net[0].weight.data
torch.set_printoptions(precision=3)
print('error in estimating w:', true_w - w.reshape(true_w.shape))
b = net[0].bias.data
print('error in estimating b:', true_b - b)
torch.set_printoptions(precision=4)

# softmax regression from scratch on synthetic 3-class data
X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print(X.sum(0, keepdim=True), X.sum(1, keepdim=True))
def softmax(X):
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition
X = torch.normal(0, 1, (2, 5))
X_prob = softmax(X)
print(X_prob, X_prob.sum(1))
y = torch.tensor([0, 2])
y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
print(y_hat[[0, 1], y])
def cross_entropy(y_hat, y):
    return - torch.log(y_hat[range(len(y_hat)), y])
print(cross_entropy(y_hat, y))
def accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())
print(accuracy(y_hat, y) / len(y))

centers = torch.randn(3, 20) * 2
labels = torch.randint(0, 3, (600,))
features = centers[labels] + torch.randn(600, 20)
train_iter = load_array((features[:500], labels[:500]), 50)
test_iter = load_array((features[500:], labels[500:]), 50, is_train=False)

def init_weights(m):
    if type(m) == nn.Linear:
        nn.init.normal_(m.weight, std=0.01)

def evaluate_accuracy(net, data_iter):
    if isinstance(net, torch.nn.Module):
        net.eval()
    right, total = 0.0, 0
    with torch.no_grad():
        for X, y in data_iter:
            right += accuracy(net(X), y)
            total += y.numel()
    return right / total

def train(net, loss, updater, epochs):
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for X, y in train_iter:
            y_hat = net(X)
            l = loss(y_hat, y)
            updater.zero_grad()
            l.mean().backward()
            updater.step()
            total += float(l.sum())
        print(f'epoch {epoch + 1}, loss {total / 500:.4f}, test acc {evaluate_accuracy(net, test_iter):.3f}')

net = nn.Sequential(nn.Flatten(), nn.Linear(20, 3))
net.apply(init_weights)
loss = nn.CrossEntropyLoss(reduction='none')
trainer = torch.optim.SGD(net.parameters(), lr=0.1)
train(net, loss, trainer, 2)

# MLP from scratch with relu via torch.max
num_inputs, num_outputs, num_hiddens = 20, 3, 32
W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens, requires_grad=True) * 0.01)
b1 = nn.Parameter(torch.zeros(num_hiddens, requires_grad=True))
W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs, requires_grad=True) * 0.01)
b2 = nn.Parameter(torch.zeros(num_outputs, requires_grad=True))
params = [W1, b1, W2, b2]
def relu(X):
    a = torch.zeros_like(X)
    return torch.max(X, a)
def dropout_layer(X, dropout):
    assert 0 <= dropout <= 1
    if dropout == 1:
        return torch.zeros_like(X)
    if dropout == 0:
        return X
    mask = (torch.rand(X.shape) > dropout).float()
    return mask * X / (1.0 - dropout)
class Net(nn.Module):
    def forward(self, X):
        X = X.reshape((-1, num_inputs))
        H = relu(X @ W1 + b1)
        if self.training:
            H = dropout_layer(H, 0.2)
        return H @ W2 + b2
net = Net()
updater = torch.optim.SGD(params, lr=0.1)
train(net, loss, updater, 2)

# weight decay, concise
net = nn.Sequential(nn.Linear(20, 3))
for param in net.parameters():
    param.data.normal_()
trainer = torch.optim.SGD([{"params": net[0].weight, 'weight_decay': 3}, {"params": net[0].bias}], lr=0.003)
train(net, loss, trainer, 2)
print('w L2 norm:', round(net[0].weight.norm().item(), 4))
