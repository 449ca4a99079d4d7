/* trackd: a Customer.io-compatible event tracking and campaign trigger server. */
#include "app/app.h"

int main(int argc, char **argv)
{
    return app_main(argc, argv);
}
