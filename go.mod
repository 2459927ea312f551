module github.com/cloudfoundry-community/locker

go 1.26
