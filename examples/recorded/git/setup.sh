git init -q .
git config user.email example@example.invalid
git config user.name example
echo one > f.txt
git add f.txt
git commit -qm one
echo two > f.txt
