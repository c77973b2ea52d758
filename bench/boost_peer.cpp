// boost_peer.cpp - Boost.Interprocess as shm_bench's comparison peer (see
// boost_peer.h). One managed_shared_memory segment; every object is a
// 4096-byte Region, the same size as the benchmark's vmshm regions.
#include "boost_peer.h"

#include <boost/interprocess/managed_shared_memory.hpp>
#include <cstdio>
#include <new>
#include <string>

namespace bip = boost::interprocess;

namespace
{
struct Region {
	char bytes[4096];
};

bip::managed_shared_memory *seg;
std::string seg_name;
uint32_t live;

void live_name(char *buf, size_t len, uint32_t i)
{
	std::snprintf(buf, len, "live-%u", i);
}
} // namespace

extern "C" int bx_setup(const char *name, size_t size, const char *target)
{
	try {
		bip::shared_memory_object::remove(name);
		seg = new bip::managed_shared_memory(bip::create_only, name, size);
		seg_name = name;
		return seg->construct<Region>(target, std::nothrow)() ? 0 : -1;
	} catch (...) {
		return -1;
	}
}

extern "C" int bx_set_live(uint32_t n)
{
	char name[32];
	for (; live < n; live++) {
		live_name(name, sizeof(name), live);
		if (!seg->construct<Region>(name, std::nothrow)())
			return -1;
	}
	for (; live > n; live--) {
		live_name(name, sizeof(name), live - 1);
		if (!seg->destroy<Region>(name))
			return -1;
	}
	return 0;
}

extern "C" int bx_construct(const char *name)
{
	return seg->construct<Region>(name, std::nothrow)() ? 0 : -1;
}

extern "C" int bx_find(const char *name)
{
	return seg->find<Region>(name).first ? 0 : -1;
}

extern "C" int bx_create_destroy(const char *name)
{
	Region *r = seg->construct<Region>(name, std::nothrow)();
	if (!r)
		return -1;
	return seg->destroy<Region>(name) ? 0 : -1;
}

extern "C" void bx_cleanup(void)
{
	if (seg_name.empty())
		return;
	delete seg;
	seg = nullptr;
	live = 0;
	bip::shared_memory_object::remove(seg_name.c_str());
	seg_name.clear();
}
